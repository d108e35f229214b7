/* SPDX-License-Identifier: ISC */
/*
 * sqlite_mem: SQLite's memory allocator for the SQLite backend (store_sqlite.c), with a
 * cache of freed blocks per thread.
 *
 * Why (issue 22): Debian's SQLite is built with SQLITE_OMIT_LOOKASIDE, so every text
 * column a statement reads, every cursor and every record it builds is a malloc and a
 * free; the location writer's write-behind refresh (an UPDATE on a WITHOUT ROWID table)
 * makes ~35 of each, more blocks of one size than glibc's per-thread cache keeps (7 per
 * size), so most frees took glibc's slower path (_int_free): ~2,600 instructions of a
 * ~19,700-instruction refresh went to allocation (bench/store_refresh.c under callgrind).
 * Here a freed block of up to SQLITE_MEM_SMALL bytes goes on its size class's list in the
 * freeing thread's cache (at most SQLITE_MEM_KEEP per class) and the next allocation of
 * that class on the thread takes it back; larger blocks, and blocks beyond the cap, go
 * to malloc and free.
 *
 * sqlite_mem_install runs before SQLite initialises (sqlite3_config's rule: first;
 * store_sqlite.c calls it before its first connection; later calls return the first
 * one's result); it returns SQLITE_MISUSE when SQLite is
 * already initialised (another library in the process used it first), and then SQLite
 * keeps the system allocator (only slower). Not installed in sanitizer builds: a cached
 * block would hide SQLite's use after free from AddressSanitizer.
 *
 * Threads: any. A block may be freed by another thread than the one that allocated it
 * (it joins the freeing thread's cache). A thread's cache is given back to free() when
 * the thread exits. Memory: at most SQLITE_MEM_KEEP blocks per size class (11 classes,
 * 32 to 1,024 bytes) per thread that ever freed one (~110 KB).
 */
#ifndef TG_STORE_SQLITE_MEM_H
#define TG_STORE_SQLITE_MEM_H

/* 1 when this build installs the cache, 0 under AddressSanitizer (see above). */
#if defined(__SANITIZE_ADDRESS__)
#define SQLITE_MEM_CACHED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SQLITE_MEM_CACHED 0
#endif
#endif
#ifndef SQLITE_MEM_CACHED
#define SQLITE_MEM_CACHED 1
#endif

#define SQLITE_MEM_SMALL 1024 /* bytes: the largest block cached */
#define SQLITE_MEM_KEEP 32    /* blocks cached per size class and thread */

/* SQLite's return code of sqlite3_config (SQLITE_OK when installed). */
int sqlite_mem_install(void);

#endif
