/** A version of an app was published. */
export interface AppPublished {
  type: 'AppPublished';
  name: string;
  version: string;
  owner: string;
}

export type AppsEvent = AppPublished;
