/* A stand-in for a configure-generated config.h, passed with -I. */
#define HAVE_PWRITE 1
