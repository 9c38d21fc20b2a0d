package server

import "github.com/weirmq/weir/sm"

// observedHealth completes a broker's health measurement before it is
// posted (sm.HealthObserved) with the components a Weir broker does not
// have yet, reported as what they are rather than as failures: there is
// no read cache, so none can be unhealthy (Healthy, zero sizes), and no
// object storage (Configured false, which the verdict skips). The
// controller's verdict on a broker (GET /api/v1/brokers/{id}/health
// "healthy") requires every component healthy, so a zero cache marked
// every broker of a healthy cluster unhealthy. A component the process
// does measure is left as measured.
func observedHealth(h sm.BrokerHealth) sm.BrokerHealth {
	if h.Cache == (sm.CacheHealth{}) {
		h.Cache.Healthy = true // no cache: nothing to fail
	}
	return h
}
