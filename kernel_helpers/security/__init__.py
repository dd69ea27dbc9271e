"""Security: what a shared kernel does not isolate, and the runtime hardening that closes it.

Taught in: lab 11, lab 12.
"""
