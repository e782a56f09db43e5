package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// exitWith prints err on stderr and returns an exit status carrying code.
func exitWith(code int, err error) error {
	fmt.Fprintln(os.Stderr, "shipgate:", err)
	return exitCode(code)
}

// discardLogger drops logs; offline commands print their own results.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
