package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// parseDelimiter reads a --delimiter: a byte string written with Go's
// escapes (\n, \r, \t, \\, \xHH, \uHHHH, octal \NNN), plus \0 for NUL.
func parseDelimiter(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New(`--delimiter is empty: want the bytes that end a record, e.g. '\n' or '\0'`)
	}
	var out []byte
	for rest := s; rest != ""; {
		if strings.HasPrefix(rest, `\0`) && (len(rest) == 2 || rest[2] < '0' || rest[2] > '7') {
			out, rest = append(out, 0), rest[2:]
			continue
		}
		r, multibyte, tail, err := strconv.UnquoteChar(rest, 0)
		if err != nil {
			return nil, fmt.Errorf(`--delimiter %q: bad escape at %q (use \n, \r\n, \t, \0 or \xHH)`, s, rest)
		}
		if multibyte {
			out = utf8.AppendRune(out, r)
		} else {
			out = append(out, byte(r))
		}
		rest = tail
	}
	return out, nil
}

// splitOn is a bufio.SplitFunc for records that end with delim; the last
// record may lack it. The records keep every other byte.
func splitOn(delim []byte) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, delim); i >= 0 {
			return i + len(delim), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}

// recordFormat is how consume prints records in the table format.
type recordFormat struct {
	delim        []byte // after each value
	printKey     bool
	printOffset  bool
	printHeaders bool
}

// recordWriter prints consumed records in one --format.
type recordWriter struct {
	w      *bufio.Writer
	format string
	o      recordFormat
	csv    *csv.Writer // csv: with its header written
}

func newRecordWriter(w io.Writer, format string, o recordFormat) *recordWriter {
	rw := &recordWriter{w: bufio.NewWriter(w), format: format, o: o}
	if format == formatCSV {
		rw.csv = csv.NewWriter(rw.w)
		rw.csv.Write([]string{"topic", "partition", "offset", "key", "value"})
	}
	return rw
}

// jsonRecord is one record in the json and yaml formats. Text is shown as
// text; bytes that are not UTF-8 as base64, in the _base64 field, the
// text field then null.
type jsonRecord struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int64  `json:"leader_epoch"`
	// Timestamp is Unix ms: the record's create time when TimestampType
	// is create_time, else its leader's append time.
	Timestamp     int64        `json:"timestamp"`
	TimestampType string       `json:"timestamp_type"`
	Key           *string      `json:"key"`
	KeyBase64     *string      `json:"key_base64,omitempty"`
	Value         *string      `json:"value"`
	ValueBase64   *string      `json:"value_base64,omitempty"`
	Headers       []jsonHeader `json:"headers,omitempty"`
}

// jsonHeader is one record header: its value as text, or base64 when it
// is not UTF-8.
type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

// textOrBase64 is b as text when it is UTF-8, else as base64; a nil key
// is neither.
func textOrBase64(b []byte, isKey bool) (text, b64 *string) {
	switch {
	case isKey && len(b) == 0:
		return nil, nil
	case utf8.Valid(b):
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

func toJSONRecord(r sdk.Record) jsonRecord {
	j := jsonRecord{Topic: r.TP.Topic, Partition: r.TP.Partition, Offset: int64(r.Offset), LeaderEpoch: int64(r.LeaderEpoch),
		Timestamp: r.Timestamp.UnixMilli(), TimestampType: sm.TimestampLogAppendTime}
	if r.CreateTime {
		j.TimestampType = sm.TimestampCreateTime
	}
	j.Key, j.KeyBase64 = textOrBase64(r.Key, true)
	j.Value, j.ValueBase64 = textOrBase64(r.Value, false)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = textOrBase64(h.Value, false)
		j.Headers = append(j.Headers, jh)
	}
	return j
}

func (rw *recordWriter) write(r sdk.Record) error {
	switch rw.format {
	case formatJSON:
		b, err := toJSON(toJSONRecord(r))
		if err != nil {
			return err
		}
		rw.w.Write(b)
		return rw.w.WriteByte('\n')
	case formatYAML:
		b, err := toJSON(toJSONRecord(r))
		if err != nil {
			return err
		}
		y, err := jsonToYAML(b)
		if err != nil {
			return err
		}
		rw.w.WriteString("---\n")
		_, err = rw.w.Write(y)
		return err
	case formatCSV:
		return rw.csv.Write([]string{r.TP.Topic, strconv.Itoa(int(r.TP.Partition)), strconv.FormatInt(int64(r.Offset), 10), string(r.Key), string(r.Value)})
	}
	if rw.o.printOffset {
		fmt.Fprintf(rw.w, "%d:%d\t", r.TP.Partition, r.Offset)
	}
	if rw.o.printHeaders {
		for i, h := range r.Headers {
			if i > 0 {
				rw.w.WriteByte(',')
			}
			rw.w.WriteString(h.Key)
			rw.w.WriteByte('=')
			rw.w.Write(h.Value)
		}
		rw.w.WriteByte('\t')
	}
	if rw.o.printKey {
		rw.w.Write(r.Key)
		rw.w.WriteByte('\t')
	}
	rw.w.Write(r.Value)
	_, err := rw.w.Write(rw.o.delim)
	return err
}

// flush writes out what is buffered, so records show as they arrive.
func (rw *recordWriter) flush() error {
	if rw.csv != nil {
		rw.csv.Flush()
		if err := rw.csv.Error(); err != nil {
			return fmt.Errorf("writing csv: %w", err)
		}
	}
	return rw.w.Flush()
}
