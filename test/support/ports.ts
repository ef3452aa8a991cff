/** Free loopback ports for test servers (the kernel picks them, so suites never collide). */
export { freePort } from '../../stack/ports.js';
