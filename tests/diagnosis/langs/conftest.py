"""The failing programs of ``cases/`` hold their own tests (pytest, unittest...): not ours."""

collect_ignore = ["cases"]
