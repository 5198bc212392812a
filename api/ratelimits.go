package api

import (
	"fmt"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/ratelimit"
)

// limitsKey is where a request keeps the throttle decisions its answer
// reports.
const limitsKey = "enrollkit.ratelimits"

// reported is one throttle's decision on the request.
type reported struct {
	rule ratelimit.Rule
	d    ratelimit.Decision
}

// reportLimit records a throttle's decision on the request and states all
// those recorded so far in the RateLimit-Policy and RateLimit fields of the
// answer (IETF draft-ietf-httpapi-ratelimit-headers): each policy's quota of
// failures q in its window w, and the failures r it has left, counting this
// request as a failure until it is answered (a success gives its failure
// back, after the answer is written), with the seconds t until all are
// forgotten.
// The throttles count failures only, so a client that succeeds never runs
// out. An account-wide guard that slows attempts down is not reported: its
// count is the account's, spent from anywhere, not the client's.
func reportLimit(c *gin.Context, r ratelimit.Rule, d ratelimit.Decision) {
	var all []reported
	if v, ok := c.Get(limitsKey); ok {
		all = v.([]reported)
	}
	replaced := false
	for i := range all {
		if all[i].rule.Name == r.Name {
			all[i].d, replaced = d, true
		}
	}
	if !replaced {
		all = append(all, reported{r, d})
	}
	c.Set(limitsKey, all)
	policies := make([]string, len(all))
	states := make([]string, len(all))
	for i, l := range all {
		policies[i] = fmt.Sprintf("%q;q=%d;w=%d", l.rule.Name, l.rule.Limit, ceilSeconds(l.rule.Period))
		states[i] = fmt.Sprintf("%q;r=%d;t=%d", l.rule.Name, l.d.Remaining, ceilSeconds(l.d.Reset))
	}
	h := c.Writer.Header()
	h.Set("RateLimit-Policy", strings.Join(policies, ", "))
	h.Set("RateLimit", strings.Join(states, ", "))
}

func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// refunded is a reservation's decision once it is given back: one more
// failure left. The time to forget them all is left as it was, an upper
// bound.
func refunded(d ratelimit.Decision, r ratelimit.Rule) ratelimit.Decision {
	d.Remaining = min(d.Remaining+1, r.Limit)
	return d
}
