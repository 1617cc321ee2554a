/**
 * One DOM update per animation frame for all an answer shows: its text, its reasoning, its tool
 * calls. Events only record what changed and ask for the frame; the frame applies it all, in the
 * order it was asked for (which is stream order), then reports one paint.
 */

export class FrameQueue {
  private jobs: (() => void)[] = [];
  private scheduled = false;

  constructor(
    private readonly schedule: (run: () => void) => void,
    private readonly onPaint: () => void,
  ) {}

  /** Run `job` in the next frame. */
  request(job: () => void): void {
    this.jobs.push(job);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Run what is waiting now (the stream ended: show its end at once). */
  flush(): void {
    const jobs = this.jobs;
    if (jobs.length === 0) return;
    this.jobs = [];
    for (const job of jobs) job();
    this.onPaint();
  }
}
