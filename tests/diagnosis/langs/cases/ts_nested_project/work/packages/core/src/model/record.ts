export interface TrainingRecord {
  prompt: string;
  completion: string;
  tokens?: number;
}
