import { scaleLinear } from "d3-scale";

export function axis(values: number[], width: number): (v: number) => number {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return scaleLinear().domain([lo, hi]).range([0, width]);
}
