"""Two streaming string matchers for the output guard, fed one character at a time.

- `AhoCorasick(words)`: after each character, `depth[state]` is the length of the longest
  suffix of the text read so far that is a prefix of some word (the part that could still
  become a match) and `hit[state]` says a word has just ended. Transitions are memoised,
  so a step is a dict lookup once a (state, character) pair has been seen.
- `SuffixAutomaton(text)`: after each character, the length of the longest suffix of the
  stream that is a substring of `text`; O(1) amortised per character (Blumer et al., 1985).

Both are immutable once built (bar the memo) and shared between streams; a stream keeps
its own state (an int, or an int and a length). Pure Python, no Django.
"""


class AhoCorasick:
    def __init__(self, words):
        goto: list[dict[str, int]] = [{}]
        depth = [0]
        hit = [False]
        for word in words:
            if not word:
                continue
            state = 0
            for char in word:
                nxt = goto[state].get(char)
                if nxt is None:
                    nxt = len(goto)
                    goto[state][char] = nxt
                    goto.append({})
                    depth.append(depth[state] + 1)
                    hit.append(False)
                state = nxt
            hit[state] = True
        fail = [0] * len(goto)
        queue = list(goto[0].values())
        for state in queue:  # breadth first: a state's fail link is known before its children's
            for char, child in goto[state].items():
                link = fail[state]
                while link and char not in goto[link]:
                    link = fail[link]
                target = goto[link].get(char, 0)
                fail[child] = target if target != child else 0
                hit[child] = hit[child] or hit[fail[child]]
                queue.append(child)
        self._goto, self._fail = goto, fail
        self.depth, self.hit = depth, hit
        self.memo: list[dict[str, int]] = [{} for _ in goto]  # state -> char -> state
        self.longest = max(depth)

    def step(self, state: int, char: str) -> int:
        nxt = self.memo[state].get(char)
        if nxt is None:
            link = state
            while link and char not in self._goto[link]:
                link = self._fail[link]
            nxt = self._goto[link].get(char, 0)
            self.memo[state][char] = nxt
        return nxt


class SuffixAutomaton:
    def __init__(self, text: str):
        nxt: list[dict[str, int]] = [{}]
        link = [-1]
        length = [0]
        last = 0
        for char in text:
            cur = len(nxt)
            nxt.append({})
            length.append(length[last] + 1)
            link.append(0)
            p = last
            while p != -1 and char not in nxt[p]:
                nxt[p][char] = cur
                p = link[p]
            if p != -1:
                q = nxt[p][char]
                if length[p] + 1 == length[q]:
                    link[cur] = q
                else:
                    clone = len(nxt)
                    nxt.append(dict(nxt[q]))
                    length.append(length[p] + 1)
                    link.append(link[q])
                    while p != -1 and nxt[p].get(char) == q:
                        nxt[p][char] = clone
                        p = link[p]
                    link[q] = link[cur] = clone
            last = cur
        self.next, self.link, self.length = nxt, link, length

    def step(self, state: int, matched: int, char: str) -> tuple[int, int]:
        """(state, matched) after `char`: matched = longest suffix that is a substring."""
        nxt, link = self.next, self.link
        while state and char not in nxt[state]:
            state = link[state]
            matched = self.length[state]
        target = nxt[state].get(char)
        if target is None:
            return 0, 0
        return target, matched + 1
