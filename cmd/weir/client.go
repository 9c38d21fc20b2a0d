package main

import "github.com/spf13/cobra"

// addClientCommands adds produce, consume and bench (they need the SDK).
func addClientCommands(root *cobra.Command, g *globals) {}
