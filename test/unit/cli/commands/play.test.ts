import { describe, expect, it } from 'vitest';
import { playUrl } from '../../../../src/cli/commands/play.js';

describe('aethir play: the Play page URL', () => {
  it('names the game and carries the place and bound, encoded', () => {
    expect(playUrl('http://127.0.0.1:7420/', 'arena', 'Paris, FR', 40)).toBe(
      'http://127.0.0.1:7420/#/play/arena?near=Paris%2C+FR&maxLatency=40',
    );
    expect(playUrl('https://node.example', 'arena')).toBe('https://node.example/#/play/arena');
    expect(playUrl('http://h', 'arena', 'São Paulo, BR&x=<y>')).toBe(
      'http://h/#/play/arena?near=S%C3%A3o+Paulo%2C+BR%26x%3D%3Cy%3E',
    );
  });
});
