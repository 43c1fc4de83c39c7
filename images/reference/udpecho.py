"""The UDP echo server of the reference image (port 7), as C source.

busybox-static has no UDP server applet (its nc is the small one, without ``-u``), so the
builder compiles this freestanding program (raw syscalls, no libc: a few KiB) with gcc.
"""

SOURCE = r"""
/* UDP echo on port 7: every datagram goes back to its sender. No libc. */
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
struct sin { unsigned short family, port; unsigned int addr; char zero[8]; };
static char buf[65536];
void _start(void) {
    struct sin me = {2, (7 >> 8) | ((7 & 0xff) << 8), 0, {0}}, peer;
    long s = sys6(41, 2, 2, 0, 0, 0, 0);            /* socket(AF_INET, SOCK_DGRAM, 0) */
    if (s < 0 || sys6(49, s, (long)&me, sizeof me, 0, 0, 0) < 0)  /* bind */
        sys6(60, 1, 0, 0, 0, 0, 0);                  /* exit(1) */
    for (;;) {
        unsigned int len = sizeof peer;
        long n = sys6(45, s, (long)buf, sizeof buf, 0, (long)&peer, (long)&len);  /* recvfrom */
        if (n >= 0)
            sys6(44, s, (long)buf, n, 0, (long)&peer, len);                       /* sendto */
    }
}
"""
