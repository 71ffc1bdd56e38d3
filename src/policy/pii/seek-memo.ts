/**
 * The decision a seek took at the candidate it last reported (Recogniser.decided): the scanner asks
 * about that candidate at once, and is answered from here instead of running the pattern and the
 * validator a second time. Answered once, then forgotten, and forgotten anyway when the scan ends
 * (a candidate another finding covered, or one past the scan's limit, is never asked about), so no
 * text stays referenced from here after its scan.
 */
export class SeekMemo {
  private text: string | undefined;
  private start = -1;
  private result = -1;

  /** The seek reports `start` of `text`, where the validator gave `result`. */
  remember(text: string, start: number, result: number): void {
    this.text = text;
    this.start = start;
    this.result = result;
  }

  /** Recogniser.forget: drops the text (the scanner calls it as a scan ends, asked or not). */
  readonly forget = (): void => {
    this.text = undefined;
    this.start = -1;
  };

  /** Recogniser.decided: the remembered result at `start` of `text`, or undefined. */
  readonly decided = (text: string, start: number): number | undefined => {
    if (start !== this.start || text !== this.text) return undefined;
    this.text = undefined;
    this.start = -1;
    return this.result;
  };
}
