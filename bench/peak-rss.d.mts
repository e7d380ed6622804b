export function peakRssMb(): number;
