pytest_plugins = ["kernel_helpers.testing"]
