/** Small helpers the benches share to print their numbers. */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
