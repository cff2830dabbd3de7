import { Sample, Split } from "./types";

export function split(samples: Sample[], fraction: number): Split {
  const cut = Math.floor(samples.length * fraction);
  return { train: samples.slice(0, cut), validation: samples.slice(cut) };
}

export function classBalance(s: Split): Map<number, number> {
  const counts = new Map<number, number>();
  for (const sample of s.train) {
    counts.set(sample.label, (counts.get(sample.label) ?? 0) + 1);
  }
  for (const sample of s.test) {
    counts.set(sample.label, (counts.get(sample.label) ?? 0) + 1);
  }
  return counts;
}
