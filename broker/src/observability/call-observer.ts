/** What the API reports of every call (metrics.ts counts and times them). */
export interface CallObserver {
  /** Called once per call when its response (or the first error) is known. */
  observe(service: string, method: string, code: string, seconds: number): void;
}
