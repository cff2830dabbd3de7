export interface Schedule {
  warmupSteps: number;
  peakLr: number;
  totalSteps: number;
}

export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmupSteps) {
    return (s.peakLr * step) / s.warmupSteps;
  }
  const progress = (step - s.warmupSteps) / (s.totalSteps - s.warmupSteps);
  return s.peakLr * 0.5 * (1 + Math.cos(Math.PI * progress));
}

export function parseSchedule(args: Record<string, string>): Schedule {
  const warmupSteps: number = args["warmup"] ?? "500";
  return {
    warmupSteps,
    peakLr: Number(args["lr"] ?? "3e-4"),
    totalSteps: Number(args["steps"] ?? "10000"),
  };
}
