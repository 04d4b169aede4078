# Sourced by the load scripts. Their runs measure bunkerd, not its limits: every per-connection,
# per-address and default tenant limit is raised out of reach (the load generator's clients all
# come from 127.0.0.1) but left on, so the limits' checks and memory are part of what is measured.
export BUNKERD_TENANT_REQUESTS_PER_SEC=1000000 BUNKERD_TENANT_BURST=1000000 BUNKERD_UNPAIRED_REQUESTS_PER_SEC=0 \
  BUNKERD_EVENTS_PER_SEC=1000000 BUNKERD_EVENTS_BURST=1000000 \
  BUNKERD_IP_EVENTS_PER_SEC=1000000 BUNKERD_IP_EVENTS_BURST=1000000 \
  BUNKERD_MAX_CONNECTIONS=100000 BUNKERD_MAX_CONNECTIONS_PER_IP=100000 \
  BUNKERD_MAX_SUBSCRIPTIONS_PER_IP=1000000
