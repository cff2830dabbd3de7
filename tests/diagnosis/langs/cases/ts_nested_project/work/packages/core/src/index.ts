export { parseJsonl, totalTokens } from "./io/readers/jsonl";
export type { TrainingRecord } from "./model/record";
