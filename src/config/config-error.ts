/** One problem in a config file, located as `FILE:LINE:COL field: message`. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  field: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = "KT_ERR_CONFIG_INVALID";
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatConfigIssue).join("\n"));
    this.name = "ConfigError";
  }
}

export function formatConfigIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col} ${i.field}: ${i.message}`;
}
