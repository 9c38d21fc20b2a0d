package group

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group/assign"
)

// propWorld tracks appends in issue order with their outcomes, so the log
// is exactly the records of the appends that succeeded, in issue order.
type propWorld struct {
	c         *Coordinator
	cfg       Config
	now       sm.Time
	next      Handle
	hw        hwMap
	issued    []issuedAppend
	log       []sm.Record // the durable log so far (prefix that completed, plus reloads)
	cancelled map[Handle]bool
	open      map[Handle]bool
	replied   map[Handle]bool
	reloads   int
}

type issuedAppend struct {
	a       Append
	outcome sm.Outcome
	done    bool
}

var propGroups = []string{"g1", "g2"}

func (w *propWorld) settle(t *rapid.T) {
	out := w.c.TakeOutput()
	for _, a := range out.Appends {
		w.issued = append(w.issued, issuedAppend{a: a})
	}
	for _, r := range out.Replies {
		if w.replied[r.To] {
			t.Fatalf("second reply to handle %d", r.To)
		}
		if w.cancelled[r.To] {
			t.Fatalf("reply to cancelled handle %d", r.To)
		}
		if !w.open[r.To] {
			t.Fatalf("reply to unknown handle %d", r.To)
		}
		delete(w.open, r.To)
		w.replied[r.To] = true
	}
	if err := w.c.CheckInvariants(); err != nil {
		t.Fatalf("invariants: %v", err)
	}
	// The leading completed appends are in the log, in issue order.
	for len(w.issued) > 0 && w.issued[0].done {
		if w.issued[0].outcome == sm.OutcomeOK {
			w.log = append(w.log, w.issued[0].a.Records...)
		}
		w.issued = w.issued[1:]
	}
}

func (w *propWorld) handle() Handle {
	w.next++
	w.open[w.next] = true
	return w.next
}

func (w *propWorld) describe(g string) GroupDescription { return w.c.Describe([]string{g})[0] }

func (w *propWorld) pickMember(t *rapid.T, d GroupDescription) string {
	if len(d.Members) == 0 || rapid.IntRange(0, 9).Draw(t, "junk") == 0 {
		return rapid.SampledFrom([]string{"", "stale-0-1", "zz"}).Draw(t, "junkID")
	}
	return rapid.SampledFrom(d.Members).Draw(t, "member").MemberID
}

func (w *propWorld) protocols(t *rapid.T, g, member string) []Protocol {
	var owned []sm.TopicPartition
	for _, m := range w.describe(g).Members {
		if m.MemberID == member {
			a, _ := assign.DecodeAssignment(m.Assignment)
			owned = a.Partitions
		}
	}
	s := assign.EncodeSubscription(assign.Subscription{Version: 2, Topics: []string{"t"}, Owned: owned, Generation: w.describe(g).Generation})
	switch rapid.IntRange(0, 2).Draw(t, "protocols") {
	case 0:
		return []Protocol{{Name: "range", Metadata: s}}
	case 1:
		return []Protocol{{Name: "cooperative-sticky", Metadata: s}, {Name: "range", Metadata: s}}
	}
	return []Protocol{{Name: "cooperative-sticky", Metadata: s}}
}

func (w *propWorld) leaderAssignments(t *rapid.T, d GroupDescription) []MemberAssignment {
	a, err := assign.ByName(d.Protocol)
	if err != nil {
		return nil
	}
	var members []assign.Member
	for _, m := range d.Members {
		s, err := assign.DecodeSubscription(m.Metadata)
		if err != nil {
			t.Fatalf("member %s metadata: %v", m.MemberID, err)
		}
		members = append(members, assign.Member{ID: m.MemberID, InstanceID: m.InstanceID, Subscription: s})
	}
	res := a.Assign(members, map[string]int32{"t": 8})
	var out []MemberAssignment
	for _, m := range d.Members {
		out = append(out, MemberAssignment{MemberID: m.MemberID, Assignment: assign.EncodeAssignment(assign.Assignment{Partitions: res[m.MemberID]})})
	}
	return out
}

// reload replaces the coordinator by one loaded from records.
func (w *propWorld) reload(t *rapid.T, records []sm.Record) *Coordinator {
	cfg := w.cfg
	cfg.Epoch = int64(w.reloads + 1)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep := c.Load(records); len(rep.Skipped) != 0 {
		t.Fatalf("load skipped %v", rep.Skipped)
	}
	c.FinishLoad(w.now)
	if err := c.CheckInvariants(); err != nil {
		t.Fatalf("reloaded invariants: %v", err)
	}
	return c
}

// Goal: whatever the operations, the outcomes of the appends (ok, failed,
// any completion order, unknown), the coordinator keeps its invariants,
// and a coordinator rebuilt from exactly the records whose appends
// succeeded has the same durable state (offsets, generation, stored
// members and assignments) and answers offset fetches the same.
func TestCoordinatorProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := testConfig()
		cfg.MembersMax = 5
		cfg.AppendsInflightMax = 6
		cfg.InitialRebalanceDelay = sm.Duration(rapid.SampledFrom([]int{0, 0, 1000}).Draw(t, "delayMs")) * sm.Millisecond
		c, _ := New(cfg)
		c.FinishLoad(0)
		w := &propWorld{c: c, cfg: cfg, now: 1, hw: hwMap{}, cancelled: map[Handle]bool{}, open: map[Handle]bool{}, replied: map[Handle]bool{}}
		for p := range int32(8) {
			w.hw[tp("t", p)] = 1000
		}
		t.Repeat(map[string]func(*rapid.T){
			"join": func(t *rapid.T) {
				g := rapid.SampledFrom(propGroups).Draw(t, "group")
				m := w.pickMember(t, w.describe(g))
				if rapid.Bool().Draw(t, "new") {
					m = ""
				}
				r := JoinRequest{GroupID: g, MemberID: m, ClientID: "c", ProtocolType: "consumer", Protocols: w.protocols(t, g, m),
					SessionTimeout:       sm.Duration(rapid.IntRange(2, 6).Draw(t, "session")) * sm.Second,
					RebalanceTimeout:     4 * sm.Second,
					RequireKnownMemberID: rapid.IntRange(0, 3).Draw(t, "kip394") == 0,
				}
				if rapid.IntRange(0, 5).Draw(t, "static") == 0 {
					r.GroupInstanceID = rapid.SampledFrom([]string{"i1", "i2"}).Draw(t, "instance")
				}
				w.c.Join(w.handle(), w.now, r)
			},
			"sync": func(t *rapid.T) {
				g := rapid.SampledFrom(propGroups).Draw(t, "group")
				d := w.describe(g)
				m := w.pickMember(t, d)
				var as []MemberAssignment
				if m == d.Leader && d.State == StateCompletingRebalance {
					as = w.leaderAssignments(t, d)
				}
				gen := d.Generation - int32(rapid.IntRange(0, 1).Draw(t, "stale"))
				w.c.Sync(w.handle(), w.now, SyncRequest{GroupID: g, Generation: gen, MemberID: m, Assignments: as})
			},
			"heartbeat": func(t *rapid.T) {
				g := rapid.SampledFrom(propGroups).Draw(t, "group")
				d := w.describe(g)
				w.c.Heartbeat(w.handle(), w.now, HeartbeatRequest{GroupID: g, Generation: d.Generation, MemberID: w.pickMember(t, d)})
			},
			"leave": func(t *rapid.T) {
				g := rapid.SampledFrom(propGroups).Draw(t, "group")
				w.c.Leave(w.handle(), w.now, LeaveRequest{GroupID: g, Members: []LeavingMember{{MemberID: w.pickMember(t, w.describe(g))}}})
			},
			"commit": func(t *rapid.T) {
				g := rapid.SampledFrom(propGroups).Draw(t, "group")
				d := w.describe(g)
				r := CommitRequest{GroupID: g, Generation: d.Generation, MemberID: w.pickMember(t, d), Seek: rapid.IntRange(0, 4).Draw(t, "seek") == 0}
				if rapid.IntRange(0, 3).Draw(t, "standalone") == 0 {
					r.Generation, r.MemberID = -1, ""
				}
				for range rapid.IntRange(1, 3).Draw(t, "n") {
					r.Offsets = append(r.Offsets, off(tp("t", int32(rapid.IntRange(0, 8).Draw(t, "p"))), sm.Offset(rapid.IntRange(-1, 1010).Draw(t, "o"))))
				}
				w.c.Commit(w.handle(), w.now, r, w.hw)
			},
			"reset": func(t *rapid.T) {
				g := rapid.SampledFrom(propGroups).Draw(t, "group")
				w.c.ResetOffsets(w.handle(), w.now, ResetRequest{GroupID: g, Offsets: []OffsetCommit{off(tp("t", int32(rapid.IntRange(0, 7).Draw(t, "p"))), sm.Offset(rapid.IntRange(0, 1000).Draw(t, "o")))}}, w.hw)
			},
			"delete": func(t *rapid.T) {
				w.c.Delete(w.handle(), w.now, []string{rapid.SampledFrom(propGroups).Draw(t, "group")})
			},
			"advance": func(t *rapid.T) {
				w.now = w.now.Add(sm.Duration(rapid.IntRange(0, 6000).Draw(t, "ms")) * sm.Millisecond)
				if at := w.c.TimerAt(); at != 0 && at <= w.now {
					w.c.OnTimer(w.now)
				}
				if at := w.c.TimerAt(); at != 0 && at <= w.now {
					t.Fatalf("timer at %v not after %v after OnTimer", at, w.now)
				}
			},
			"complete": func(t *rapid.T) {
				var open []int
				for i, a := range w.issued {
					if !a.done {
						open = append(open, i)
					}
				}
				if len(open) == 0 {
					t.Skip("nothing in flight")
				}
				i := rapid.SampledFrom(open).Draw(t, "append")
				o := sm.OutcomeOK
				if rapid.IntRange(0, 4).Draw(t, "fail") == 0 {
					o = sm.OutcomeFailed
				}
				w.issued[i].done, w.issued[i].outcome = true, o
				w.c.OnAppended(w.now, Appended{ID: w.issued[i].a.ID, Outcome: o, NotLeader: rapid.Bool().Draw(t, "notLeader"), Reason: "prop"})
			},
			"unknown": func(t *rapid.T) {
				if len(w.issued) == 0 || rapid.IntRange(0, 3).Draw(t, "rare") != 0 {
					t.Skip("nothing in flight")
				}
				i := rapid.IntRange(0, len(w.issued)-1).Draw(t, "append")
				for w.issued[i].done {
					i = (i + 1) % len(w.issued)
					if i == 0 && w.issued[0].done {
						t.Skip("all done")
					}
				}
				w.c.OnAppended(w.now, Appended{ID: w.issued[i].a.ID, Outcome: sm.OutcomeUnknown, Reason: "prop"})
				w.settle(t)
				if !w.c.NeedsReload() {
					t.Fatal("not fenced after unknown")
				}
				if len(w.open) != 0 {
					t.Fatalf("%d requests unanswered after fence", len(w.open))
				}
				// Each append not known to have failed may or may not be in the log.
				log := slices.Clone(w.log)
				for _, a := range w.issued {
					if (a.done && a.outcome == sm.OutcomeOK) || (!a.done && rapid.Bool().Draw(t, "landed")) {
						log = append(log, a.a.Records...)
					}
				}
				w.reloads++
				w.c, w.log, w.issued = w.reload(t, log), log, nil
			},
			"cancel": func(t *rapid.T) {
				var hs []Handle
				for h := range w.open {
					hs = append(hs, h)
				}
				if len(hs) == 0 {
					t.Skip("nothing held")
				}
				slices.Sort(hs)
				h := rapid.SampledFrom(hs).Draw(t, "handle")
				w.c.Cancel(h)
				delete(w.open, h)
				w.cancelled[h] = true
			},
			"read": func(t *rapid.T) {
				_ = w.c.List()
				_ = w.c.Describe(propGroups)
			},
			"": func(t *rapid.T) {
				w.settle(t)
				rebuilt := w.reload(t, w.log)
				if got, want := rebuilt.Snapshot(), w.c.Snapshot(); !sameRecords(got, want) {
					t.Fatalf("durable state differs from the log's:\n log: %s\nlive: %s", fmtRecords(got), fmtRecords(want))
				}
				for _, g := range propGroups {
					a, b := rebuilt.FetchOffsets(g, nil), w.c.FetchOffsets(g, nil)
					if fmt.Sprint(a) != fmt.Sprint(b) {
						t.Fatalf("fetch %s: log %v, live %v", g, a, b)
					}
					da, db := rebuilt.Describe([]string{g})[0], w.c.Describe([]string{g})[0]
					if st := w.c.groups[g]; st != nil && st.stored != nil && da.Generation != st.stored.generation {
						t.Fatalf("%s: rebuilt generation %d, stored %d", g, da.Generation, st.stored.generation)
					}
					_ = db
				}
			},
		})
		// Liveness: with every append completed and time passing, every
		// held request is answered (none waits forever).
		for range 6 {
			for i := range w.issued {
				if !w.issued[i].done {
					w.issued[i].done, w.issued[i].outcome = true, sm.OutcomeOK
					w.c.OnAppended(w.now, Appended{ID: w.issued[i].a.ID, Outcome: sm.OutcomeOK})
				}
			}
			w.settle(t)
			w.now = w.now.Add(30 * sm.Second)
			w.c.OnTimer(w.now)
			w.settle(t)
		}
		if len(w.open) != 0 {
			t.Fatalf("%d requests never answered", len(w.open))
		}
	})
}

func fmtRecords(rs []sm.Record) string {
	s := ""
	for _, r := range rs {
		k, _ := decodeKey(r.Key)
		switch {
		case k.isOffset:
			o, _ := decodeOffset(r.Value)
			s += fmt.Sprintf("[%s %s=%d] ", k.group, k.tp, o.Offset)
		default:
			v, _ := decodeGroup(r.Value)
			if v != nil {
				s += fmt.Sprintf("[%s gen %d, %d members] ", k.group, v.generation, len(v.members))
			}
		}
	}
	return s
}
