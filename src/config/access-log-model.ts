/**
 * The compiled access-log config of one HTTP connection manager entry (`access_log[i]`). Owned by the
 * access-log work; see config/compile/access-log.ts.
 */
export interface AccessLogModel {
  readonly name: string;
}
