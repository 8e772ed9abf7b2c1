import { setWorkerPriority } from './priority.js';

setWorkerPriority(10);
