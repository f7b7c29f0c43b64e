package zoocfg

import "strings"

// ParseJVMFlags returns the system properties (-Dkey=value) set by a java
// command line such as SERVER_JVMFLAGS or JVMFLAGS, which zkEnv.sh passes
// to the server unquoted, so words split as a shell would split them;
// single and double quotes and backslashes are handled for the simple
// cases a start script contains. -Dkey without a value is "", as in Java;
// other flags (-Xmx, -cp, ...) are ignored, and a later -D wins.
//
// A "zookeeper." prefix is stripped, because ZooKeeper's zookeeper.X
// system properties are what its zoo.cfg key X sets: the result is keyed
// like Config.Properties (DigestAuthenticationProvider.superDigest,
// extendedTypesEnabled, 4lw.commands.whitelist). An unprefixed
// -Djute.maxbuffer or -Dreadonlymode.enabled keeps its name.
func ParseJVMFlags(s string) map[string]string {
	out := map[string]string{}
	for _, w := range shellWords(s) {
		kv, ok := strings.CutPrefix(w, "-D")
		if !ok || kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		if stripped, ok := strings.CutPrefix(k, "zookeeper."); ok && stripped != "" {
			k = stripped
		}
		out[k] = v
	}
	return out
}

// shellWords splits s into words as a POSIX shell would, without
// expansions: blanks separate words, '...' is literal, "..." keeps
// blanks and honours \" \\ \$ \`, and a backslash outside quotes escapes
// the next character.
func shellWords(s string) []string {
	var words []string
	var b strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				b.WriteString(s[i+1:])
				i = len(s)
			} else {
				b.WriteString(s[i+1 : i+1+j])
				i += j + 1
			}
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					b.WriteByte(s[i])
				}
			}
		default:
			inWord = true
			b.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, b.String())
	}
	return words
}
