/** Phase timings of one job's VMs, kept for the job's state dir and the bench. */
export interface PhaseMark {
  readonly phase: string;
  readonly startMs: number;
  readonly endMs: number;
}

export class Timeline {
  readonly marks: PhaseMark[] = [];
  private readonly origin: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.origin = now();
  }

  elapsedMs(): number {
    return Math.round(this.now() - this.origin);
  }

  async phase<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const startMs = this.elapsedMs();
    try {
      return await work();
    } finally {
      this.marks.push({ phase, startMs, endMs: this.elapsedMs() });
    }
  }
}
