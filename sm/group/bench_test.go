package group

import (
	"slices"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group/assign"
)

// benchGroup drives a group of simulated members through the pure
// coordinator, completing appends at once (as a host with an instant log
// would), so the figures are the coordinator's and the assignor's own cost.
type benchGroup struct {
	tb         testing.TB
	c          *Coordinator
	now        sm.Time
	h          Handle
	assignor   assign.Assignor
	partitions int32
	members    []*benchMember
	gen        int32
	hw         hwMap
}

type benchMember struct {
	id    string
	owned []sm.TopicPartition
}

func newBenchGroup(tb testing.TB, n int, partitions int32, assignor assign.Assignor) *benchGroup {
	cfg := testConfig()
	cfg.InitialRebalanceDelay = sm.Second // the first join phase gathers everyone
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c.FinishLoad(0)
	bg := &benchGroup{tb: tb, c: c, now: 1, assignor: assignor, partitions: partitions, hw: hwMap{}}
	for p := range partitions {
		bg.hw[tp("t", p)] = 1 << 40
	}
	for range n {
		bg.members = append(bg.members, &benchMember{})
	}
	bg.settleFully()
	return bg
}

// take drains output, completing appends OK, and returns the replies.
func (bg *benchGroup) take() map[Handle]Response {
	got := map[Handle]Response{}
	for {
		out := bg.c.TakeOutput()
		for _, r := range out.Replies {
			got[r.To] = r.Body
		}
		if len(out.Appends) == 0 {
			return got
		}
		for _, a := range out.Appends {
			bg.c.OnAppended(bg.now, Appended{ID: a.ID, Outcome: sm.OutcomeOK})
		}
	}
}

// round runs one join/sync cycle of every member; it reports whether a
// member lost partitions (the cooperative protocol then needs another).
func (bg *benchGroup) round() bool {
	joins := make([]Handle, len(bg.members))
	join := func(i int) {
		m := bg.members[i]
		bg.h++
		joins[i] = bg.h
		meta := assign.EncodeSubscription(assign.Subscription{Version: 2, Topics: []string{"t"}, Owned: m.owned, Generation: bg.gen})
		bg.c.Join(bg.h, bg.now, JoinRequest{GroupID: "bench", MemberID: m.id, ClientID: "c", ProtocolType: "consumer",
			Protocols: []Protocol{{Name: bg.assignor.Name(), Metadata: meta}}, SessionTimeout: 10 * sm.Second, RebalanceTimeout: 10 * sm.Second})
	}
	for i := range bg.members {
		join(i)
	}
	replies := bg.take()
	for range 3 {
		missing := false
		for i := range bg.members {
			missing = missing || replies[joins[i]] == nil
		}
		if !missing {
			break
		}
		if bg.c.Describe([]string{"bench"})[0].State == StatePreparingRebalance {
			// A join phase ended before a later member arrived: those
			// answered learn of the new rebalance (a heartbeat would say
			// so) and join again.
			for i := range bg.members {
				if r, ok := replies[joins[i]].(JoinResponse); ok && r.Code == None {
					bg.members[i].id = r.MemberID
					join(i)
				}
			}
		}
		for h, r := range bg.take() {
			replies[h] = r
		}
		bg.now = bg.now.Add(2 * sm.Second) // past an initial delay
		bg.c.OnTimer(bg.now)
		for h, r := range bg.take() {
			replies[h] = r
		}
	}
	var leader JoinResponse
	for i, m := range bg.members {
		jr := replies[joins[i]].(JoinResponse)
		if jr.Code != None {
			bg.tb.Fatalf("join: %v %s", jr.Code, jr.Message)
		}
		m.id = jr.MemberID
		bg.gen = jr.Generation
		if jr.Leader == jr.MemberID {
			leader = jr
		}
	}
	syncs := make([]Handle, len(bg.members))
	var leaderIdx int
	for i, m := range bg.members {
		if m.id == leader.MemberID {
			leaderIdx = i
			continue
		}
		bg.h++
		syncs[i] = bg.h
		bg.c.Sync(bg.h, bg.now, SyncRequest{GroupID: "bench", Generation: bg.gen, MemberID: m.id})
	}
	var ms []assign.Member
	for _, jm := range leader.Members {
		s, _ := assign.DecodeSubscription(jm.Metadata)
		ms = append(ms, assign.Member{ID: jm.MemberID, Subscription: s})
	}
	res := bg.assignor.Assign(ms, map[string]int32{"t": bg.partitions})
	var as []MemberAssignment
	for _, jm := range leader.Members {
		as = append(as, MemberAssignment{MemberID: jm.MemberID, Assignment: assign.EncodeAssignment(assign.Assignment{Version: 1, Partitions: res[jm.MemberID]})})
	}
	bg.h++
	syncs[leaderIdx] = bg.h
	bg.c.Sync(bg.h, bg.now, SyncRequest{GroupID: "bench", Generation: bg.gen, MemberID: leader.MemberID, Assignments: as})
	replies = bg.take()
	revoked := false
	for i, m := range bg.members {
		sr := replies[syncs[i]].(SyncResponse)
		if sr.Code != None {
			bg.tb.Fatalf("sync: %v %s", sr.Code, sr.Message)
		}
		a, _ := assign.DecodeAssignment(sr.Assignment)
		if len(a.Partitions) < len(m.owned) {
			revoked = true
		}
		m.owned = a.Partitions
	}
	return revoked
}

// settleFully repeats rounds until nobody loses partitions and every
// partition is owned.
func (bg *benchGroup) settleFully() {
	for range 4 {
		if !bg.round() && bg.owned() == int(bg.partitions) {
			return
		}
	}
	bg.tb.Fatalf("group did not settle: %d of %d partitions owned", bg.owned(), bg.partitions)
}

func (bg *benchGroup) owned() int {
	n := 0
	for _, m := range bg.members {
		n += len(m.owned)
	}
	return n
}

func (bg *benchGroup) leave(i int) {
	bg.h++
	bg.c.Leave(bg.h, bg.now, LeaveRequest{GroupID: "bench", Members: []LeavingMember{{MemberID: bg.members[i].id}}})
	bg.take()
	bg.members = append(bg.members[:i:i], bg.members[i+1:]...)
}

// BenchmarkRebalance: 10 members × 100 partitions, one member leaves; the
// time from the leave until every partition is owned again (the nine
// rejoin, the leader assigns, the assignment is stored, every sync
// answered), cooperative-sticky beside range as the baseline.
func BenchmarkRebalance(b *testing.B) {
	for _, a := range []assign.Assignor{assign.CooperativeSticky{}, assign.Range{}} {
		b.Run(a.Name(), func(b *testing.B) {
			rounds := 0
			for b.Loop() {
				b.StopTimer()
				bg := newBenchGroup(b, 10, 100, a)
				b.StartTimer()
				bg.leave(3)
				for range 4 {
					rounds++
					if !bg.round() && bg.owned() == 100 {
						break
					}
				}
				b.StopTimer()
				if bg.owned() != 100 {
					b.Fatalf("%d partitions owned after the leave", bg.owned())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(rounds)/float64(b.N), "rounds/op")
		})
	}
}

// BenchmarkCommit: commits per second into one Stable group of 100
// members (one partition each), each commit stored and acknowledged.
func BenchmarkCommit(b *testing.B) {
	bg := newBenchGroup(b, 100, 100, assign.Range{})
	offsets := make([]sm.Offset, 100)
	i := 0
	for b.Loop() {
		m := bg.members[i%100]
		offsets[i%100]++
		bg.h++
		bg.c.Commit(bg.h, bg.now, CommitRequest{GroupID: "bench", Generation: bg.gen, MemberID: m.id,
			Offsets: []OffsetCommit{{TP: m.owned[0], Offset: offsets[i%100], LeaderEpoch: -1}}}, bg.hw)
		replies := bg.take()
		if r := replies[bg.h].(CommitResponse); r.Partitions[0].Code != None {
			b.Fatalf("commit: %v %s", r.Partitions[0].Code, r.Partitions[0].Message)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// Goal: the benchmark's scenario is right (and stays so): after one of ten
// members leaves, cooperative-sticky needs one round, moves nothing that
// stayed, and leaves every partition owned.
func TestRebalanceScenario(t *testing.T) {
	bg := newBenchGroup(t, 10, 100, assign.CooperativeSticky{})
	before := map[string][]sm.TopicPartition{}
	for _, m := range bg.members {
		before[m.id] = m.owned
	}
	bg.leave(3)
	if bg.round() {
		t.Fatal("a remaining member lost partitions")
	}
	if bg.owned() != 100 {
		t.Fatalf("%d partitions owned", bg.owned())
	}
	for _, m := range bg.members {
		for _, tp := range before[m.id] {
			if !slices.Contains(m.owned, tp) {
				t.Fatalf("%s moved away from %s, which stayed", tp, m.id)
			}
		}
		if len(m.owned) < 11 || len(m.owned) > 12 {
			t.Fatalf("member %s owns %d", m.id, len(m.owned))
		}
	}
}

// Goal: with the cooperative protocol a partition taken from a member is
// first revoked (nobody holds it; its old owner may still commit it, as a
// cooperative consumer does after the sync) and assigned to the new owner
// one rebalance later, who alone may then commit it.
func TestCooperativeCommitOwnership(t *testing.T) {
	bg := newBenchGroup(t, 1, 8, assign.CooperativeSticky{})
	a := bg.members[0]
	if len(a.owned) != 8 {
		t.Fatalf("a owns %v", a.owned)
	}
	commit := func(m *benchMember, p sm.TopicPartition) Code {
		bg.h++
		bg.c.Commit(bg.h, bg.now, CommitRequest{GroupID: "bench", Generation: bg.gen, MemberID: m.id, Offsets: []OffsetCommit{off(p, 1)}}, bg.hw)
		return bg.take()[bg.h].(CommitResponse).Partitions[0].Code
	}
	b := &benchMember{}
	bg.members = append(bg.members, b)
	if !bg.round() {
		t.Fatal("nothing revoked when b joined")
	}
	if len(a.owned) != 4 || len(b.owned) != 0 {
		t.Fatalf("after the revoking round: a %v, b %v", a.owned, b.owned)
	}
	var moved sm.TopicPartition
	for p := range int32(8) {
		if !slices.Contains(a.owned, tp("t", p)) {
			moved = tp("t", p)
		}
	}
	if c := commit(a, moved); c != None {
		t.Fatalf("a commits revoked %s: %v", moved, c)
	}
	if c := commit(b, moved); c != PartitionNotAssigned {
		t.Fatalf("b commits %s before it is assigned: %v", moved, c)
	}
	if bg.round() {
		t.Fatal("second round revoked more")
	}
	if len(a.owned) != 4 || len(b.owned) != 4 || !slices.Contains(b.owned, moved) {
		t.Fatalf("after settling: a %v, b %v", a.owned, b.owned)
	}
	if c := commit(a, moved); c != PartitionNotAssigned {
		t.Fatalf("a commits %s after it moved: %v", moved, c)
	}
	if c := commit(b, moved); c != None {
		t.Fatalf("b commits its %s: %v", moved, c)
	}
}
