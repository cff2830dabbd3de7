# ruff: noqa: E501  (tool output is quoted as the tools print it)
"""Where a failed test's report names its line, next to other file:line references."""

from __future__ import annotations

from pathlib import Path

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


def test_minitest_failure_line_wins_over_the_rerun_hint(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(RAILS_MINITEST)
    d = diagnose(log)
    assert d.category == "test_failure"
    assert d.location is not None
    assert d.location.file.endswith("activerecord/test/cases/attributes_test.rb")
    assert d.location.line == 239


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


def test_mocha_summary_is_located_by_the_report_below_it(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(MOCHA_MANGLED)
    d = diagnose(log)
    assert d.category == "test_failure"
    assert d.location is not None
    assert (d.location.file, d.location.line) == ("extensions/api-tests/src/window.test.ts", 137)
