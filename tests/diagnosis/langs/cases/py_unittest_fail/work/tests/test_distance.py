import unittest

from geo.distance import haversine_km


class HaversineTest(unittest.TestCase):
    def test_zero_distance(self):
        self.assertEqual(haversine_km(52.52, 13.40, 52.52, 13.40), 0.0)

    def test_berlin_paris(self):
        # Berlin (52.52 N, 13.40 E) to Paris (48.86 N, 2.35 E) is about 878 km.
        distance = haversine_km(52.52, 13.40, 48.86, 2.35)
        self.assertAlmostEqual(distance, 878.0, delta=5.0)


if __name__ == "__main__":
    unittest.main()
