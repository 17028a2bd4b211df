// The PGWARDEN_* environment variables: an explicit map, documented in docs/configuration.md.
// Any other PGWARDEN_* variable is rejected, so a typo does not silently do nothing.

export const ENV_MAP: Readonly<Record<string, string>> = {
  PGWARDEN_NAME: 'name',
  PGWARDEN_SCOPE: 'scope',
  PGWARDEN_NAMESPACE: 'namespace',
  PGWARDEN_LOG_LEVEL: 'log.level',
  PGWARDEN_LOG_FORMAT: 'log.format',
  PGWARDEN_ETCD_HOSTS: 'etcd.hosts', // comma-separated host:port list
  PGWARDEN_ETCD_USERNAME: 'etcd.username',
  PGWARDEN_ETCD_PASSWORD: 'etcd.password',
  PGWARDEN_RESTAPI_LISTEN: 'restapi.listen',
  PGWARDEN_RESTAPI_CONNECT_ADDRESS: 'restapi.connect_address',
  PGWARDEN_RESTAPI_USERNAME: 'restapi.auth.username',
  PGWARDEN_RESTAPI_PASSWORD: 'restapi.auth.password',
  PGWARDEN_RESTAPI_TOKEN: 'restapi.auth.token',
  PGWARDEN_POSTGRESQL_BIN_DIR: 'postgresql.bin_dir',
  PGWARDEN_POSTGRESQL_DATA_DIR: 'postgresql.data_dir',
  PGWARDEN_POSTGRESQL_LISTEN: 'postgresql.listen',
  PGWARDEN_POSTGRESQL_CONNECT_ADDRESS: 'postgresql.connect_address',
  PGWARDEN_POSTGRESQL_PORT: 'postgresql.port',
  PGWARDEN_SUPERUSER_USERNAME: 'postgresql.superuser.username',
  PGWARDEN_SUPERUSER_PASSWORD: 'postgresql.superuser.password',
  PGWARDEN_REPLICATION_USERNAME: 'postgresql.replication.username',
  PGWARDEN_REPLICATION_PASSWORD: 'postgresql.replication.password',
  PGWARDEN_TAGS_NOFAILOVER: 'tags.nofailover',
  PGWARDEN_TAGS_FAILOVER_PRIORITY: 'tags.failover_priority',
  PGWARDEN_TAGS_NOLOADBALANCE: 'tags.noloadbalance',
  PGWARDEN_TAGS_NOSYNC: 'tags.nosync',
};

/** PGWARDEN_* variables that are not config keys (read by the CLI, not by the loader). */
export const NON_CONFIG_ENV: ReadonlySet<string> = new Set(['PGWARDEN_CONFIG']);
