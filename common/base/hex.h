/*
 * hex.h - the value of one hex digit: the one place every hex decoder of
 * the tree (percent-escapes, TOML escapes, TCB versions, digests) reads
 * digits, so that they all accept the same characters.
 */
#ifndef KBS_HEX_H
#define KBS_HEX_H

/*
 * 0-15 for c in '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else (NUL,
 * signs, blanks, bytes >= 0x80 whether char is signed or not).  No
 * locale is consulted.
 */
int kbs_hexval(int c);

#endif
