package com.acme;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class NormalizerTest {
    @Test
    public void keepsLength() {
        double[] out = Normalizer.minMax(new double[] {3.0, 1.0, 2.0});
        assertEquals(3, out.length);
    }

    @Test
    public void scalesToUnitInterval() {
        double[] values = {10.0, 20.0, 30.0};
        double[] out = Normalizer.minMax(values);
        assertEquals(0.0, out[0], 1e-9);
        assertEquals(0.5, out[1], 1e-9);
        assertArrayEquals(new double[] {0.0, 0.5, 1.0}, out, 1e-9);
    }
}
