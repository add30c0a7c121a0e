import Foundation

/// A generated C program for the `analyze` suite: modules with persistent records
/// written through wrappers and field by field, handles and caches as decoys, and
/// plain code in between, so that the analysis sees the mix real programs have.
enum AnalyzeCorpus {
    /// Writes `modules` source files into `directory`; returns their paths.
    static func write(modules: Int, into directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try (0..<modules).map { number in
            let url = directory.appendingPathComponent("module\(number).c")
            try Data(module(number).utf8).write(to: url)
            return url.path
        }
    }

    /// One module: the same shapes in every module, with names of its own; the
    /// functions come in `variants` copies so that the module's own lines, not the
    /// system headers every module includes, dominate the work.
    static func module(_ n: Int, variants: Int = 8) -> String {
        header(n) + (0..<variants).map { functions(n, variant: $0) }.joined()
    }

    private static func header(_ n: Int) -> String {
        """
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/mman.h>
        #include <unistd.h>

        struct record\(n) {
            uint64_t key;
            uint32_t length;
            char name[32];
        };

        struct header\(n) {
            uint32_t magic;
            uint32_t count;
            struct record\(n) first;
        };

        struct handle\(n) {
            int fd;
            struct header\(n) *header;
            void *cache;
            size_t cache_size;
        };

        struct cache_entry\(n) {
            struct record\(n) *record;
            struct cache_entry\(n) *next;
            unsigned hits;
        };

        """
    }

    private static func functions(_ n: Int, variant v: Int) -> String {
        """
        static int write_all\(n)_\(v)(int fd, const void *buf, size_t len, off_t offset)
        {
            const char *p = buf;
            while (len > 0) {
                ssize_t done = pwrite(fd, p, len, offset);
                if (done < 0)
                    return -1;
                p += done;
                offset += done;
                len -= (size_t)done;
            }
            return 0;
        }

        int save_record\(n)_\(v)(struct handle\(n) *h, const struct record\(n) *r, off_t at)
        {
            return write_all\(n)_\(v)(h->fd, r, sizeof *r, at);
        }

        int save_header\(n)_\(v)(struct handle\(n) *h)
        {
            return write_all\(n)_\(v)(h->fd, h->header, sizeof *h->header, 0);
        }

        static void put32_\(n)_\(v)(unsigned char *p, uint32_t v)
        {
            p[0] = v >> 24;
            p[1] = v >> 16;
            p[2] = v >> 8;
            p[3] = v;
        }

        int save_compact\(n)_\(v)(int fd, const struct record\(n) *r)
        {
            unsigned char buf[8];
            put32_\(n)_\(v)(buf, (uint32_t)r->key);
            put32_\(n)_\(v)(buf + 4, r->length);
            return write(fd, buf, sizeof buf) == sizeof buf ? 0 : -1;
        }

        struct cache_entry\(n) *cache_find\(n)_\(v)(struct cache_entry\(n) *head, uint64_t key)
        {
            for (struct cache_entry\(n) *e = head; e != NULL; e = e->next) {
                if (e->record->key == key) {
                    e->hits++;
                    return e;
                }
            }
            return NULL;
        }

        uint64_t checksum\(n)_\(v)(const unsigned char *data, size_t len)
        {
            uint64_t sum = 1469598103934665603ULL;
            for (size_t i = 0; i < len; i++) {
                sum ^= data[i];
                sum *= 1099511628211ULL;
            }
            return sum;
        }

        int open_mapped\(n)_\(v)(struct handle\(n) *h, size_t size)
        {
            void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd, 0);
            if (base == MAP_FAILED)
                return -1;
            h->header = base;
            h->cache = calloc(1, 4096);
            h->cache_size = 4096;
            return h->header->magic == 0x50\(n % 10)d ? 0 : -1;
        }

        int sync_mapped\(n)_\(v)(struct handle\(n) *h, size_t size)
        {
            h->header->count++;
            return msync(h->header, size, MS_SYNC);
        }

        int load_record\(n)_\(v)(int fd, struct record\(n) *out, off_t at)
        {
            return pread(fd, out, sizeof *out, at) == (ssize_t)sizeof *out ? 0 : -1;
        }

        """
    }
}
