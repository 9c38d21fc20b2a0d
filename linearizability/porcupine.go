package linearizability

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// PorcupineResult is CheckPorcupine's verdict per model. A timeout
// (porcupine.Unknown) is not Illegal; Unknown reports it so the caller can
// fail the run (the simulator does) rather than count it as checked.
type PorcupineResult struct {
	Log    porcupine.CheckResult // LogModel over LogOperations
	Topics porcupine.CheckResult // TopicModel over TopicOperations
	// LogOps and TopicOps count the operations each model checked.
	LogOps   int
	TopicOps int
	// IllegalTPs and IllegalTopics name the partitions that porcupine proved
	// non-linearizable (each re-checked alone), in order of first appearance.
	IllegalTPs    []string
	IllegalTopics []string
	// HTML lists the visualizations written (only on Illegal, with a vizDir).
	HTML []string
}

// OK reports whether no model found the history illegal.
func (r *PorcupineResult) OK() bool {
	return r.Log != porcupine.Illegal && r.Topics != porcupine.Illegal
}

// Unknown reports whether a check timed out before reaching a verdict.
func (r *PorcupineResult) Unknown() bool {
	return r.Log == porcupine.Unknown || r.Topics == porcupine.Unknown
}

// String summarises r on one line, naming illegal partitions and HTML files.
func (r *PorcupineResult) String() string {
	s := fmt.Sprintf("porcupine: log %s (%d ops), topics %s (%d ops)", r.Log, r.LogOps, r.Topics, r.TopicOps)
	if len(r.IllegalTPs) > 0 {
		s += fmt.Sprintf("; illegal partitions %v", r.IllegalTPs)
	}
	if len(r.IllegalTopics) > 0 {
		s += fmt.Sprintf("; illegal topics %v", r.IllegalTopics)
	}
	if len(r.HTML) > 0 {
		s += fmt.Sprintf("; see %v", r.HTML)
	}
	return s
}

// CheckPorcupine checks h with LogModel and TopicModel. timeout bounds each
// model's search in wall-clock time (0 = none); on expiry the result is
// porcupine.Unknown, not Illegal (callers decide; the simulator fails it). When a model finds h illegal and vizDir
// is not "", it writes porcupine's HTML for the illegal partitions to
// vizDir/<name>-log.html or vizDir/<name>-topics.html. The error is only for
// failing to write those files.
func CheckPorcupine(h *History, timeout time.Duration, vizDir, name string) (PorcupineResult, error) {
	var r PorcupineResult
	logOps, topicOps := LogOperations(h), TopicOperations(h)
	r.LogOps, r.TopicOps = len(logOps), len(topicOps)

	logPath, topicPath := "", ""
	if vizDir != "" {
		logPath = filepath.Join(vizDir, name+"-log.html")
		topicPath = filepath.Join(vizDir, name+"-topics.html")
	}
	var err1, err2 error
	r.Log, r.IllegalTPs, err1 = checkModel(LogModel, logOps, timeout, logPath,
		func(op porcupine.Operation) string { return op.Input.(logInput).tp })
	r.Topics, r.IllegalTopics, err2 = checkModel(TopicModel, topicOps, timeout, topicPath,
		func(op porcupine.Operation) string { return op.Input.(topicInput).topic })
	if r.Log == porcupine.Illegal && err1 == nil && logPath != "" {
		r.HTML = append(r.HTML, logPath)
	}
	if r.Topics == porcupine.Illegal && err2 == nil && topicPath != "" {
		r.HTML = append(r.HTML, topicPath)
	}
	if err1 != nil {
		return r, err1
	}
	return r, err2
}

// checkModel runs model over ops. Only when the history is illegal does it
// pay for more: it re-checks each partition alone to name the illegal ones,
// and visualizes just those (the whole history could be megabytes of HTML).
func checkModel(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration, vizPath string,
	key func(porcupine.Operation) string) (porcupine.CheckResult, []string, error) {
	res := porcupine.CheckOperationsTimeout(model, ops, timeout)
	if res != porcupine.Illegal {
		return res, nil, nil
	}
	var names []string
	var bad []porcupine.Operation
	for _, part := range model.Partition(ops) {
		if porcupine.CheckOperationsTimeout(model, part, timeout) == porcupine.Illegal {
			names = append(names, key(part[0]))
			bad = append(bad, part...)
		}
	}
	if vizPath == "" {
		return res, names, nil
	}
	if len(bad) == 0 {
		bad = ops // every partition timed out alone; show them all
	}
	_, info := porcupine.CheckOperationsVerbose(model, bad, timeout)
	if err := porcupine.VisualizePath(model, info, vizPath); err != nil {
		return res, names, fmt.Errorf("linearizability: write %s: %w", vizPath, err)
	}
	return res, names, nil
}
