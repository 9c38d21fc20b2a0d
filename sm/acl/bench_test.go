package acl

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// benchState builds n rules shaped like a real deployment: a principal per
// ten rules, literal topics, team prefixes, consumer groups, some denies,
// some source-CIDR and time conditions, a few wildcard rules; and 1,024
// requests (hits on rules, other principals on covered topics, uncovered
// topics) drawn deterministically.
func benchState(n int) (*State, []Request) {
	principals := max(1, n/10)
	teams := max(1, n/20)
	rules := make([]Rule, 0, n)
	add := func(r Rule) {
		if len(rules) < n {
			rules = append(rules, r)
		}
	}
	add(Rule{Principal: Any(), Resource: ResourcePattern{ResourceTopic, Prefix("public.")}, Operations: Ops(OpRead), Effect: Allow})
	add(Rule{Principal: Prefix("ops-"), Resource: ResourcePattern{ResourceCluster, Any()}, Operations: Ops(OpAll), Effect: Allow})
	office := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for i := 0; len(rules) < n; i++ {
		r := Rule{
			Principal:  Literal(fmt.Sprintf("app-%06d@example.com", i%principals)),
			Resource:   ResourcePattern{ResourceTopic, Literal(fmt.Sprintf("team-%d.topic-%d", i%teams, i))},
			Operations: Ops(OpRead, OpWrite),
			Effect:     Allow,
		}
		switch i % 20 {
		case 1, 2, 3, 4:
			r.Resource.Name = Prefix(fmt.Sprintf("team-%d.", i%teams))
			r.Operations = Ops(OpRead)
		case 5:
			r.Resource = ResourcePattern{ResourceGroup, Literal(fmt.Sprintf("group-%d", i))}
		case 6, 7:
			r.Effect = Deny
			r.Operations = Ops(OpWrite)
		case 8:
			r.Conditions.SourceCIDRs = office
		case 9:
			r.Conditions.TimeUTC = TimeWindow{Start: 8 * 60, End: 18 * 60}
		}
		add(r)
	}
	s := &State{}
	for chunk := range slices.Chunk(rules, 10_000) {
		if _, err := s.Create(chunk...); err != nil {
			panic(err)
		}
	}
	reqs := make([]Request, 1024)
	x := uint64(0x9e3779b97f4a7c15)
	next := func(k int) int { // xorshift: deterministic, no math/rand
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return int(x % uint64(k))
	}
	srcs := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::1")}
	for i := range reqs {
		r := s.rules[next(len(s.rules))]
		q := Request{Principal: r.Principal.Value, Resource: Resource{r.Resource.Type, r.Resource.Name.Value},
			Operation: []Operation{OpRead, OpWrite, OpDescribe}[next(3)], Source: srcs[next(3)], Time: MinuteUTC(next(MinutesPerDay))}
		switch r.Principal.Kind {
		case PatternAny:
			q.Principal = fmt.Sprintf("app-%06d@example.com", next(principals))
		case PatternPrefix:
			q.Principal += "alice"
		}
		if r.Resource.Name.Kind != PatternLiteral {
			q.Resource.Name += "orders"
		}
		switch next(5) {
		case 0: // someone else on a covered resource
			q.Principal = fmt.Sprintf("app-%06d@example.com", next(principals))
		case 1: // an uncovered topic
			q.Resource = Resource{ResourceTopic, fmt.Sprintf("other-%d", next(1000))}
		}
		reqs[i] = q
	}
	return s, reqs
}

var benchSizes = []int{10, 1_000, 100_000}

// BenchmarkAuthorize measures decisions at 10, 1,000 and 100,000 rules with
// the compiled authorizer (fast), the same on all cores (fast-parallel) and
// the reference's linear scan (linear), in one run:
//
//	go test ./sm/acl -run '^$' -bench Authorize
//
// Besides ns/op it reports decisions/s and the p50 and p99 of per-decision
// latency, each sample the mean over a batch of decisions (a single
// decision is shorter than the clock's resolution).
func BenchmarkAuthorize(b *testing.B) {
	opt := Options{AllowIfNoRules: true, SuperUsers: []string{"root", "admin"}}
	for _, n := range benchSizes {
		s, reqs := benchState(n)
		a, err := Compile(s, opt)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d/fast", n), func(b *testing.B) {
			benchDecide(b, reqs, a.Authorize, 64, 2000)
		})
		b.Run(fmt.Sprintf("rules=%d/fast-parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					_ = a.Authorize(reqs[i&1023])
					i++
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
		b.Run(fmt.Sprintf("rules=%d/linear", n), func(b *testing.B) {
			linear := func(r Request) Decision { return EvaluateLinear(s.rules, opt, r) }
			benchDecide(b, reqs, linear, 1, max(20, 200_000/n))
		})
	}
}

var sink Decision

// threadCPU is the calling thread's CPU time: on a shared machine the
// wall-clock ns/op include time the thread waited for a core, this does not.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchDecide(b *testing.B, reqs []Request, decide func(Request) Decision, batch, samples int) {
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	i := 0
	cpu := threadCPU()
	for b.Loop() {
		sink = decide(reqs[i&1023])
		i++
	}
	cpu = threadCPU() - cpu
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	lat := make([]float64, samples)
	for s := range lat {
		start := time.Now()
		for range batch {
			sink = decide(reqs[i&1023])
			i++
		}
		lat[s] = float64(time.Since(start).Nanoseconds()) / float64(batch)
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ns")
	b.ReportMetric(lat[len(lat)*99/100], "p99-ns")
}

// BenchmarkCompile is the cost of rebuilding the authorizer after a rule
// change, which a broker pays once per new version.
func BenchmarkCompile(b *testing.B) {
	for _, n := range benchSizes {
		s, _ := benchState(n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(s, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchWorkloadAgrees keeps the benchmark honest: on its own workload
// the fast authorizer decides as the reference, and the requests reach
// every kind of outcome.
func TestBenchWorkloadAgrees(t *testing.T) {
	opt := Options{AllowIfNoRules: true, SuperUsers: []string{"root"}}
	s, reqs := benchState(1000)
	a, _ := Compile(s, opt)
	reasons := map[Reason]int{}
	for _, r := range reqs {
		got, want := a.Authorize(r), s.Evaluate(opt, r)
		if got != want {
			t.Fatalf("%+v: authorizer %+v, reference %+v", r, got, want)
		}
		reasons[got.Reason]++
	}
	for _, r := range []Reason{ReasonAllowedByRule, ReasonDeniedByRule, ReasonNoMatchingAllow, ReasonNoRulesAllowed} {
		if reasons[r] == 0 {
			t.Errorf("bench workload never decides %s: %v", r, reasons)
		}
	}
	t.Logf("bench workload reasons: %v", reasons)
}
