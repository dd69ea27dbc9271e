"""The course: catalogue, checks, progress and lesson text, shared by every face.

This is the API the notebooks, the TUI (issue 9) and `labkit check` use. It is
kept stable; add to it rather than change it.

Catalogue (labs/course.toml, the only list of labs and steps)::

    course = load_course()                 # Course(title, welcome, final, labs)
    lab = course.lab("01")                 # by id "01-pid", number 1/"01" or folder name
    step = course.step("pid.parent")
    step.title, step.points, step.hints    # hints: tiered, nudge -> syscall -> man page
    lab.notebook                           # labs/01_.../01_....ipynb, the learner notebook

Checks (each runs in a forked child with a timeout; never raises for a wrong answer)::

    result = run_step(step.id)             # runs the learner notebook's setup+exercise cells,
                                           # checks the step's answer, records progress
    result = run_check(step.check, my_fn)  # check an answer object directly (no progress)
    result.passed, result.message, result.hint, result.line()

    verify(step.id, my_fn)                 # a notebook check cell: prints, records, raises if wrong

Progress (~/.labkit/progress.json, or $LABKIT_PROGRESS; atomic writes)::

    progress.summary(course)               # {step id: StepProgress(done, attempts, hints_seen)}
    progress.next_step(course)             # first step not done, or None
    progress.hint_seen(step, tier)         # the TUI's `h` key
    progress.reset(step)                   # or progress.reset() for everything

Lesson text (read from the lab notebook itself, never copied)::

    notebook_text.intro_markdown(lab.notebook)
    notebook_text.step_markdown(lab.notebook, step.id)

The learner's runtime (labs with slots: 01, 03; kernel_helpers.course.workfile)::

    workfile.init()                        # ~/labkit-work/myruntime.py ($LABKIT_WORK), one stub per slot
    workfile.read_slot("run"); workfile.write_slot("run", code)
    run_step("pid.run")                    # the harness judges the file from the host
    python -m kernel_helpers.course.harness FILE --lab 03 [--case pivot] [--mode own]

Grading (the instructor's side, kernel_helpers.course.grade)::

    grade.grade(Path("alice/05_cgroups.ipynb"))   # [Row(learner, lab, step, status, points, reason)]
    labkit course grade alice/ bob/ --csv gradebook.csv --report reports/   # a sandbox per learner
    labkit course validate                 # reference 3x, stub, known-wrong answers, every step
    labkit course release ../labkit-course # the learners' tree: no solution text

Taught in: lab 00.
"""

from kernel_helpers.course import notebook_text, progress, workfile
from kernel_helpers.course.catalog import LABS_ROOT, Course, Lab, Step, load_course
from kernel_helpers.course.checks import (CheckFailed, CheckResult, check, fail, run_check,
                                          run_step, verify)

__all__ = ["LABS_ROOT", "CheckFailed", "CheckResult", "Course", "Lab", "Step", "check", "fail",
           "load_course", "notebook_text", "progress", "run_check", "run_step", "verify",
           "workfile"]
