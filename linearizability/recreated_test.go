package linearizability

import "testing"

// A delete that may have taken effect (Unknown, whatever code it carries)
// followed by a create makes the topic one name with several logs; a delete
// answered UNKNOWN_TOPIC, or one that failed, deleted nothing.
func TestRecreatedTopicsCountUnknownAdminOps(t *testing.T) {
	create := Op{Kind: CreateTopic, TP: "a", Call: 30, Return: 40, Outcome: OK, Partitions: 1}
	for _, tc := range []struct {
		name string
		del  Op
		want bool
	}{
		{"ok delete", Op{Kind: DeleteTopic, TP: "a", Call: 10, Return: 20, Outcome: OK}, true},
		{"unknown delete with a code", Op{Kind: DeleteTopic, TP: "a", Call: 10, Return: 20, Outcome: Unknown, Err: "LEADERSHIP_LOST"}, true},
		{"delete of a missing topic", Op{Kind: DeleteTopic, TP: "a", Call: 10, Return: 20, Outcome: OK, Err: "UNKNOWN_TOPIC"}, false},
		{"failed delete", Op{Kind: DeleteTopic, TP: "a", Call: 10, Return: 20, Outcome: Failed, Err: "NOT_LEADER"}, false},
	} {
		h := &History{Ops: []Op{tc.del, create}}
		if got := recreatedTopics(h)["a"]; got != tc.want {
			t.Errorf("%s: recreated=%v, want %v", tc.name, got, tc.want)
		}
	}
}
