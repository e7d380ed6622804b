export const ROOT: string;
export const STAMP: string;
/** Whether dist/ is newer than every file under cli/, src/ and notebooks/. */
export function distIsFresh(): boolean;
