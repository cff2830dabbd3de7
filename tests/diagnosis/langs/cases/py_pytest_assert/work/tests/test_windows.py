from featurize.windows import rolling_mean, sliding_windows


def test_window_size():
    windows = sliding_windows([1.0, 2.0, 3.0, 4.0, 5.0], size=2)
    assert all(len(w) == 2 for w in windows)


def test_last_window_is_included():
    series = [1.0, 2.0, 3.0, 4.0]
    windows = sliding_windows(series, size=2)
    assert windows[-1] == [3.0, 4.0]


def test_rolling_mean_length():
    assert len(rolling_mean([1.0, 2.0, 3.0, 4.0], size=2)) == 3
