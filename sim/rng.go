package sim

import (
	"math"
	"math/rand/v2"
)

// rng is the simulator's PRNG. Every random choice in a run derives from one
// seed: child generators are split off by name so adding a draw in one place
// does not shift the draws of another (TigerBeetle's VOPR does the same).
type rng struct{ r *rand.Rand }

func newRNG(seed uint64) *rng { return &rng{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

// child derives an independent generator for one concern.
func (g *rng) child(name string) *rng {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return newRNG(g.r.Uint64() ^ h)
}

func (g *rng) Uint64() uint64        { return g.r.Uint64() }
func (g *rng) intn(n int) int        { return g.r.IntN(n) }
func (g *rng) chance(p float64) bool { return p > 0 && g.r.Float64() < p }
func (g *rng) float() float64        { return g.r.Float64() }

// between draws uniformly from [lo, hi].
func (g *rng) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.r.Int64N(hi-lo+1)
}

// logUniform draws from [lo, hi] (0 < lo <= hi) with a uniform logarithm, so
// every order of magnitude is as likely.
func (g *rng) logUniform(lo, hi float64) float64 {
	return lo * math.Exp(g.r.Float64()*math.Log(hi/lo))
}

// heavyTail draws a latency: mostly near base, sometimes (Pareto tail) far
// beyond it, capped at limit.
func (g *rng) heavyTail(base, limit int64) int64 {
	u := g.r.Float64()
	if u < 1e-9 {
		u = 1e-9
	}
	v := float64(base) * math.Pow(u, -1/1.5) // Pareto, alpha 1.5
	if v > float64(limit) {
		v = float64(limit)
	}
	return int64(v)
}

// chachaReader feeds crypto/rand.Reader from the seed while a run lasts, so
// etcd raft's election jitter (crypto/rand.Int) is reproducible.
type chachaReader struct{ c *rand.ChaCha8 }

func (r chachaReader) Read(p []byte) (int, error) { return r.c.Read(p) }
