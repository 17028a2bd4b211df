export const PGWARDEN_VERSION = '0.1.0';
