# ruff: noqa: E501  (tool output is quoted as the tools print it)
"""Where a failed test's report names its line, next to other file:line references."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_llm.diagnosis import diagnose

#: The shape of a Rails CI log (minitest through ``rails test``): the failure's own line is in
#: the test-id line under ``Failure:``; the rerun hint after it names the test's first line.
RAILS_MINITEST = """\
Run options: --seed 31720

# Running:

....................

Failure:
ActiveRecord::CustomPropertiesTest#test_inherited [/home/travis/build/rails/rails/activerecord/test/cases/attributes_test.rb:239]:
Expected false to be truthy.


rails test home/travis/build/rails/rails/activerecord/test/cases/attributes_test.rb:225

....................

Finished in 72.918449s, 89.8784 runs/s, 235.9154 assertions/s.
6554 runs, 17204 assertions, 1 failures, 0 errors, 22 skips
rake aborted!
"""


def test_minitest_error_line_in_the_workspace(tmp_path: Path) -> None:
    """An ``Error:`` report (an exception in the test) names the test's line the same way;
    with the project as workdir its file is the workspace's."""
    work = tmp_path / "project"
    (work / "test").mkdir(parents=True)
    (work / "test" / "test_units.rb").write_text("# test\n" * 40)
    log = tmp_path / "job.log"
    log.write_text(
        "# Running:\n\n.E.\n\nError:\n"
        "UnitsTest#test_parse [/builds/lab/units/test/test_units.rb:31]:\n"
        "NoMethodError: undefined method `mm' for nil:NilClass\n\n\n"
        "rails test test/test_units.rb:29\n\n"
        "3 runs, 2 assertions, 0 failures, 1 errors, 0 skips\n"
    )
    d = diagnose(log, workdir=work)
    assert d.location is not None
    assert d.location.line == 31
    assert Path(d.location.file) == work / "test" / "test_units.rb"


#: mocha's summary, then the reports; here the report's error line is not one the rules know
#: (the CI log lost its first characters), so only the summary is a signal.
MOCHA_MANGLED = """\
  \u2713 applyEdit

 82 passing (16s)

  1 failing

nl  1) window namespace tests issue #25801 - default column when opening a file:

nl      xAssertionError [ERR_ASSERTION]: false == true
      + expected - actual

nl      -false
      +true

      at Object.<anonymous> (extensions/api-tests/src/window.test.ts:137:10)

      at step (extensions/api-tests/out/window.test.js:36:23)

      at fulfilled (extensions/api-tests/out/window.test.js:8:58)

The command "./scripts/test-integration.sh" exited with 1.
"""


#: node-tap 18+ through its runner (``tap``): a file's subtests indented under it, the details
#: of each failure above its ``not ok``, ``at:`` with lineNumber/fileName fields.
NODE_TAP_RUNNER = """\
TAP version 14
1..1
# Subtest: test/lib.test.js
    # Subtest: parse splits
        ok 1 - should be equivalent
        1..1
    ok 1 - parse splits # time=8.516ms

    # Subtest: sum adds
        not ok 1 - should be equal
          ---
          compare: ===
          at:
            fileName: test/lib.test.js
            lineNumber: 9
            columnNumber: 5
            typeName: Test
          stack: |
            Test.<anonymous> (test/lib.test.js:9:5)
          ...

        1..1
    not ok 2 - sum adds # time=38.726ms
      ---
      at:
        fileName: test/lib.test.js
        lineNumber: 8
        columnNumber: 3
      ...

    1..2
not ok 1 - test/lib.test.js # time=512.3ms
  ---
  env: {}
  exitCode: 1
  ...

# { total: 2, pass: 1, fail: 1 }
"""


@pytest.mark.parametrize(
    ("text", "file", "line"),
    [
        (RAILS_MINITEST, "activerecord/test/cases/attributes_test.rb", 239),
        (MOCHA_MANGLED, "extensions/api-tests/src/window.test.ts", 137),
        (NODE_TAP_RUNNER, "test/lib.test.js", 9),
    ],
    ids=["minitest-before-rails-rerun-hint", "mocha-summary-then-reports", "node-tap-runner"],
)
def test_the_first_failed_assertion_is_named(
    tmp_path: Path, text: str, file: str, line: int
) -> None:
    log = tmp_path / "job.log"
    log.write_text(text)
    d = diagnose(log)
    assert d.category == "test_failure"
    assert d.location is not None
    assert (d.location.file, d.location.line) == (file, line)
