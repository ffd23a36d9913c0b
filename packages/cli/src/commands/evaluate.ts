/** Placeholder replaced below. */
export async function evaluateCommand(_uri: string, _f: Record<string, unknown>): Promise<string> {
  return '';
}
