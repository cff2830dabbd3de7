import { learningRate, parseSchedule } from "./schedule";

const schedule = parseSchedule({ lr: "1e-3", steps: "2000" });
for (const step of [0, 250, 500, 1000, 2000]) {
  console.log(step, learningRate(schedule, step).toExponential(3));
}
