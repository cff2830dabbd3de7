from ingest.watch import collect


def test_collect_lists_frames(tmp_path):
    for i in range(3):
        (tmp_path / f"frame_{i:03d}.tiff").write_bytes(b"II*\x00")
    (tmp_path / "acquisition.DONE").write_text("ok\n")
    assert [p.name for p in collect(tmp_path)] == [
        "frame_000.tiff",
        "frame_001.tiff",
        "frame_002.tiff",
    ]
