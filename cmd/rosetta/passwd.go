package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/rosettamq/rosetta/core/auth"
)

// maxPasswordLine bounds what passwd reads, so that piping a large file by
// mistake fails instead of hashing (and bcrypt ignores bytes past 72).
const maxPasswordLine = 1024

// passwdMain reads one line from stdin and prints the bcrypt hash of it
// without its line ending, for auth.users[].password_hash.
func passwdMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d to %d; each step doubles the time a login takes", bcrypt.MinCost, auth.MaxBcryptCost))
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: rosetta passwd [-cost N] < password-file\n"+
			"Reads a password (one line) from standard input and prints its bcrypt hash.\n"+
			"Example: printf %%s 'secret' | rosetta passwd\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rosetta passwd: the password is read from standard input, not the command line (it would stay in the shell history)\n")
		return exitUsage
	}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		// No x/term dependency for one prompt: say that input echoes.
		fmt.Fprint(stderr, "Password (input is shown): ")
	}
	pw, err := readPassword(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "rosetta passwd: %v\n", err)
		return exitError
	}
	h, err := auth.HashPassword(pw, *cost)
	if err != nil {
		fmt.Fprintf(stderr, "rosetta passwd: %v\n", err)
		return exitError
	}
	fmt.Fprintln(stdout, h)
	return exitOK
}

// readPassword returns the first line of r without "\n" or "\r\n".
func readPassword(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxPasswordLine+2), maxPasswordLine+2)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if len(line) > maxPasswordLine+1 || (len(line) > maxPasswordLine && !strings.HasSuffix(line, "\n")) {
		return nil, fmt.Errorf("password line longer than %d bytes", maxPasswordLine)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return nil, errors.New("empty password on standard input")
	}
	return []byte(line), nil
}

// isTerminal reports whether f is a character device (a terminal, in
// practice), which selects prompts and the text log format.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
