"""The kernel's executor conformance suite, on ``{{ cookiecutter.name }}``: the contract every executor honours."""

from __future__ import annotations

from agilab_core.testing import ExecutorConformance


class Test{{ cookiecutter.__title }}Conformance(ExecutorConformance):
    executor = "{{ cookiecutter.name }}"
    workers = "2"
    # Items run on threads of this (the test's) process: the two tests that kill a worker
    # process would kill pytest, so they are deselected. Remove this line once workers
    # are processes of their own; then a dead worker's item must be retried, with attempts.
    in_process = True
