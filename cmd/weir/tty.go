package main

// isTerminal reports whether f is a terminal. It decides whether table
// output is colored (stdout) and whether delete-topic may prompt (stdin).
// Tests replace it to act as if on a terminal.
var isTerminal = isTerminalFile
